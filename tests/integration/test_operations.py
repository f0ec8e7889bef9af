"""Operator commands end to end: ``reprocess``, ``history`` and ``report`` on a real DuckDB warehouse.

Input is real: days of the 2013 NYC flights written by ``bench.datagen``. Expected numbers are
computed independently with pandas from those CSV files, never from the warehouse under test.
S3 runs under ``moto.mock_aws`` in-process (``cli.main``): moto's server mode needs flask-cors,
which the dev environment does not install. Step Functions calls are checked with botocore's Stubber.
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any

import boto3
import duckdb
import pandas as pd
import pytest
from botocore.stub import ANY, Stubber
from bs4 import BeautifulSoup

from airline_pipeline import cli
from airline_pipeline.adapters.s3 import encode_key, object_created_event
from airline_pipeline.adapters.warehouse import open_warehouse
from airline_pipeline.engine.ingest import ingest
from airline_pipeline.ops import reprocess as operations
from airline_pipeline.ops.reprocess import REPLAY_NAME

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:  # bench/ is a repo folder, not an installed package
    sys.path.insert(0, str(REPO))

from bench import datagen  # noqa: E402

CLI = str(Path(sys.executable).with_name("airline-pipeline"))
DAYS = [date(2013, 1, day) for day in range(1, 6)]
#: Day 3 uses the compact folder name: reprocess must accept both layouts.
COMPACT_DAY = date(2013, 1, 3)
STATE_MACHINE_ARN = "arn:aws:states:eu-west-1:123456789012:stateMachine:airline-pipeline"


def folder(day: date) -> str:
    return f"date={day:%Y%m%d}" if day == COMPACT_DAY else f"date={day.isoformat()}"


def run_cli(*args: str) -> tuple[int, Any, str]:
    """Run the installed command; returns (exit code, parsed last stdout line, stderr)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRLINE_PIPELINE_")}
    done = subprocess.run([CLI, *args], capture_output=True, text=True, env=env, timeout=300, check=False)
    lines = done.stdout.strip().splitlines()
    return done.returncode, json.loads(lines[-1]) if lines else None, done.stderr


def fact(path: Path, sql: str) -> pd.DataFrame:
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute(sql).df()


@pytest.fixture(scope="module")
def source_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("flights")
    for day in DAYS:
        datagen.write_flights(root / folder(day) / f"flights_{day:%Y%m%d}.csv", day=day)
    datagen.write_airports(root / "airports.csv")
    return root


@pytest.fixture(scope="module")
def expected_rows(source_dir: Path) -> dict[date, int]:
    return {day: sum(1 for _ in datagen.flight_rows(day)) for day in DAYS}


@pytest.fixture
def loaded_warehouse(tmp_path: Path, source_dir: Path) -> Path:
    """A warehouse with the airports and all five days, loaded through the library."""
    path = tmp_path / "warehouse.duckdb"
    with open_warehouse(f"duckdb://{path}") as warehouse:
        warehouse.init_schema()
        warehouse.load_airports(str(source_dir / "airports.csv"))
        for day in DAYS:
            for csv in sorted((source_dir / folder(day)).glob("*.csv")):
                assert ingest(str(csv), warehouse).status == "LOADED"
    return path


def per_day(path: Path) -> pd.DataFrame:
    return fact(
        path,
        """SELECT flight_date, count(*) AS n, count(DISTINCT batch_id) AS batches,
                  min(batch_id) AS batch_id, min(loaded_at) AS loaded_at
           FROM airlines.daily_flights_fact GROUP BY flight_date ORDER BY flight_date""",
    ).set_index("flight_date")


# --- reprocess from a directory ---------------------------------------------------------------------


def test_reprocess_replaces_exactly_the_days_in_range(
    loaded_warehouse: Path, source_dir: Path, expected_rows: dict[date, int]
) -> None:
    # Given five loaded days
    before = per_day(loaded_warehouse)
    assert before["n"].to_dict() == {pd.Timestamp(day): n for day, n in expected_rows.items()}
    time.sleep(1.1)  # loaded_at has second precision
    # When days 2..4 are reprocessed from the directory (day 3 sits under date=20130103/)
    code, summary, stderr = run_cli(
        "reprocess", "--from", "2013-01-02", "--to", "2013-01-04", "--source", str(source_dir),
        "--warehouse", f"duckdb://{loaded_warehouse}",
    )  # fmt: skip
    # Then exactly those three files were loaded again, in date order
    assert code == 0, stderr
    in_range = [date(2013, 1, 2), date(2013, 1, 3), date(2013, 1, 4)]
    assert summary["status"] == "LOADED"
    assert (summary["files_found"], summary["files_loaded"], summary["files_failed"]) == (3, 3, 0)
    assert summary["rows_loaded"] == sum(expected_rows[day] for day in in_range)
    assert summary["rows_rejected"] == 0
    assert [f["flight_date"] for f in summary["files"]] == [day.isoformat() for day in in_range]
    assert "date=20130103" in summary["files"][1]["file"]
    # and each file's line is the same projection of its load summary as before (the JSON contract)
    assert list(summary["files"][0]) == [
        "file", "flight_date", "status", "batch_id", "rows_loaded", "rows_rejected",
        "duration_seconds", "error", "message", "warning",
    ]  # fmt: skip
    assert summary["files"][0]["status"] == "LOADED"
    assert summary["files"][0]["rows_loaded"] == expected_rows[in_range[0]]
    assert "reprocess" in stderr
    assert "3/3" in stderr
    # And their rows were replaced, not duplicated; the other days are untouched
    after = per_day(loaded_warehouse)
    assert after["n"].to_dict() == before["n"].to_dict()
    assert (after["batches"] == 1).all()
    for day in DAYS:
        old, new = before.loc[pd.Timestamp(day)], after.loc[pd.Timestamp(day)]
        if day in in_range:
            assert new["batch_id"] != old["batch_id"]
            assert new["batch_id"] == next(f["batch_id"] for f in summary["files"] if f["flight_date"] == str(day))
            assert new["loaded_at"] > old["loaded_at"]
        else:
            assert (new["batch_id"], new["loaded_at"]) == (old["batch_id"], old["loaded_at"])


def test_reprocess_of_a_range_without_files_fails_and_changes_nothing(loaded_warehouse: Path, source_dir: Path) -> None:
    # Given a loaded warehouse
    before = per_day(loaded_warehouse)
    # When the dates match no folder (a typo: 2031 instead of 2013)
    code, result, stderr = run_cli(
        "reprocess", "--from", "2031-01-02", "--to", "2031-01-04", "--source", str(source_dir),
        "--warehouse", f"duckdb://{loaded_warehouse}",
    )  # fmt: skip
    # Then it is an error that names the problem, and nothing changed
    assert code == 1
    assert result["error"] == "NoFilesFound"
    assert "2031-01-02..2031-01-04" in result["message"]
    assert "no .csv files" in stderr
    assert per_day(loaded_warehouse).equals(before)


def test_reprocess_rejects_a_reversed_range(loaded_warehouse: Path, source_dir: Path) -> None:
    code, result, _ = run_cli(
        "reprocess", "--from", "2013-01-04", "--to", "2013-01-02", "--source", str(source_dir),
        "--warehouse", f"duckdb://{loaded_warehouse}",
    )  # fmt: skip
    assert code == 1
    assert result["error"] == "ConfigError"
    assert "after" in result["message"]


def test_reprocess_reports_a_failing_file_and_exits_non_zero(tmp_path: Path, source_dir: Path) -> None:
    # Given a day folder with one good file and one with a wrong header
    day_dir = tmp_path / "in" / "date=2013-01-02"
    good = datagen.write_flights(day_dir / "a_good.csv", day=date(2013, 1, 2))
    (day_dir / "b_bad.csv").write_text("carrier,from,to\nAA,1,2\n")
    (day_dir / "notes.txt").write_text("not a flights file")
    warehouse = f"duckdb://{tmp_path / 'w.duckdb'}"
    assert run_cli("load-airports", str(source_dir / "airports.csv"), "--warehouse", warehouse)[0] == 0
    # When the day is reprocessed
    code, summary, _ = run_cli(
        "reprocess", "--from", "2013-01-02", "--to", "2013-01-02", "--source", str(tmp_path / "in"),
        "--warehouse", warehouse,
    )  # fmt: skip
    # Then the good file loaded, the bad one is reported, and the exit code says so
    assert code == 1
    assert (summary["status"], summary["files_found"], summary["files_loaded"], summary["files_failed"]) == (
        "FAILED", 2, 1, 1,
    )  # fmt: skip
    assert summary["rows_loaded"] == good
    bad = next(f for f in summary["files"] if f["file"].endswith("b_bad.csv"))
    assert (bad["status"], bad["error"]) == ("FAILED", "InvalidHeader")


def test_via_state_machine_needs_a_bucket(loaded_warehouse: Path, source_dir: Path) -> None:
    code, result, _ = run_cli(
        "reprocess", "--from", "2013-01-02", "--to", "2013-01-02", "--source", str(source_dir),
        "--via-state-machine", STATE_MACHINE_ARN, "--warehouse", f"duckdb://{loaded_warehouse}",
    )  # fmt: skip
    assert code == 1
    assert result["error"] == "ConfigError"
    assert "--bucket" in result["message"]


# --- reprocess from S3 (moto) ------------------------------------------------------------------------


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Any:
    from moto import mock_aws

    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "eu-west-1",
    }.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        yield


@pytest.fixture
def bucket(aws: Any, source_dir: Path) -> str:
    """The data bucket in its production layout, plus objects reprocess must ignore."""
    name = "airline-data"
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    for day in DAYS:
        for csv in (source_dir / folder(day)).glob("*.csv"):
            s3.upload_file(str(csv), name, f"daily-flights/{folder(day)}/{csv.name}")
    s3.put_object(Bucket=name, Key="daily-flights/date=2013-01-02/README.txt", Body=b"not data")
    s3.put_object(Bucket=name, Key="other-prefix/date=2013-01-02/flights.csv", Body=b"x")
    return name


def test_reprocess_from_s3_is_idempotent(
    bucket: str, tmp_path: Path, source_dir: Path, expected_rows: dict[date, int], capsys: pytest.CaptureFixture[str]
) -> None:
    # Given an empty warehouse with airports
    path = tmp_path / "s3.duckdb"
    warehouse = f"duckdb://{path}"
    assert cli.main(["load-airports", str(source_dir / "airports.csv"), "--warehouse", warehouse]) == 0
    args = ["reprocess", "--from", "2013-01-02", "--to", "2013-01-03", "--bucket", bucket, "--warehouse", warehouse]
    # When the range is reprocessed from S3 twice
    assert cli.main(args) == 0
    first = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    first_batches = fact(path, "SELECT DISTINCT batch_id FROM airlines.daily_flights_fact")["batch_id"].tolist()
    assert cli.main(args) == 0
    second = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    # Then both runs loaded the two in-range objects (the compact date=20130103 one too) and nothing else
    expected_files = [
        f"s3://{bucket}/daily-flights/date=2013-01-02/flights_20130102.csv",
        f"s3://{bucket}/daily-flights/date=20130103/flights_20130103.csv",
    ]
    for summary in (first, second):
        assert [f["file"] for f in summary["files"]] == expected_files
        assert summary["files_loaded"] == 2
        assert summary["files_failed"] == 0
    # And the warehouse holds one copy of each file's rows, from the second run
    rows = fact(
        path, "SELECT source_file, count(*) AS n, min(batch_id) AS b FROM airlines.daily_flights_fact GROUP BY 1"
    )
    counts = dict(zip(rows["source_file"], rows["n"]))
    assert counts == {expected_files[0]: expected_rows[date(2013, 1, 2)], expected_files[1]: expected_rows[COMPACT_DAY]}
    assert set(rows["b"]) == {f["batch_id"] for f in second["files"]}
    assert not set(rows["b"]) & set(first_batches)


def test_find_s3_files_lists_only_the_range_with_size_and_etag(bucket: str) -> None:
    s3 = boto3.client("s3")
    found = operations.find_s3_files(bucket, date_from=date(2013, 1, 3), date_to=date(2013, 1, 9), s3_client=s3)
    assert [f.flight_date for f in found] == [date(2013, 1, 3), date(2013, 1, 4), date(2013, 1, 5)]
    head = s3.head_object(Bucket=bucket, Key=found[0].location.split("/", 3)[3])
    assert (found[0].size, found[0].etag) == (head["ContentLength"], head["ETag"].strip('"'))


# --- reprocess through the state machine (Stubber) --------------------------------------------------


def stubbed_sfn() -> tuple[Any, Stubber, list[dict[str, Any]]]:
    """A Step Functions client whose calls are stubbed and whose start_execution params are captured."""
    sfn = boto3.client("stepfunctions", region_name="eu-west-1")
    calls: list[dict[str, Any]] = []
    sfn.meta.events.register("provide-client-params.sfn.StartExecution", lambda params, **_: calls.append(params))
    return sfn, Stubber(sfn), calls


def test_via_state_machine_starts_one_execution_per_file_with_the_eventbridge_event(bucket: str) -> None:
    # Given the bucket and a stubbed Step Functions client
    s3 = boto3.client("s3")
    sfn, stub, calls = stubbed_sfn()
    expected_keys = [
        "daily-flights/date=2013-01-02/flights_20130102.csv",
        "daily-flights/date=20130103/flights_20130103.csv",
    ]
    arns = [f"{STATE_MACHINE_ARN.replace(':stateMachine:', ':execution:')}:run-{i}" for i in range(2)]
    for arn in arns:
        stub.add_response(
            "start_execution",
            {"executionArn": arn, "startDate": "2024-01-01T00:00:00Z"},
            {"stateMachineArn": STATE_MACHINE_ARN, "name": ANY, "input": ANY},
        )
    # When days 2..3 are reprocessed through the state machine
    with stub:
        summary = operations.reprocess_via_state_machine(
            state_machine_arn=STATE_MACHINE_ARN,
            bucket=bucket,
            date_from=date(2013, 1, 2),
            date_to=date(2013, 1, 3),
            s3_client=s3,
            sfn_client=sfn,
        )
        stub.assert_no_pending_responses()
    # Then one execution per file was started, with exactly what EventBridge would send
    assert [call["stateMachineArn"] for call in calls] == [STATE_MACHINE_ARN] * 2
    for call, key in zip(calls, expected_keys):
        event = json.loads(call["input"])
        head = s3.head_object(Bucket=bucket, Key=key)
        reference = object_created_event(
            bucket, key, size=head["ContentLength"], etag=head["ETag"].strip('"'), region="eu-west-1",
            account="123456789012", replay_name=REPLAY_NAME,
        )  # fmt: skip
        # marked as a replay, so the ledger lets an already-loaded file through
        assert event["replay-name"] == REPLAY_NAME
        assert event.keys() == reference.keys()
        assert event["detail"].keys() == reference["detail"].keys()
        for volatile in ("id", "time"):
            event.pop(volatile), reference.pop(volatile)
        for volatile in ("sequencer",):
            event["detail"]["object"].pop(volatile), reference["detail"]["object"].pop(volatile)
        event["detail"].pop("request-id"), reference["detail"].pop("request-id")
        assert event == reference
        assert event["detail"]["object"]["key"] == encode_key(key)  # URL-encoded, as S3 sends it
    # And the execution names are unique and valid, and the summary reports the ARNs
    names = [call["name"] for call in calls]
    assert len(set(names)) == 2
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{1,80}", name) for name in names)
    assert [e["execution_arn"] for e in summary.model_dump()["executions"]] == arns
    assert (summary.status, summary.files_found, summary.executions_started, summary.executions_failed) == (
        "STARTED", 2, 2, 0,
    )  # fmt: skip


def test_via_state_machine_wait_reports_final_states_and_start_failures(bucket: str) -> None:
    # Given three files: one execution succeeds, one fails, one cannot be started
    sfn, stub, _ = stubbed_sfn()
    arn_ok, arn_bad = (f"{STATE_MACHINE_ARN.replace(':stateMachine:', ':execution:')}:{n}" for n in ("ok", "bad"))
    started = {"startDate": "2024-01-01T00:00:00Z"}
    stub.add_response("start_execution", {"executionArn": arn_ok, **started})
    stub.add_response("start_execution", {"executionArn": arn_bad, **started})
    stub.add_client_error("start_execution", "ExecutionLimitExceeded", "too many executions")
    base = {"stateMachineArn": STATE_MACHINE_ARN, "startDate": "2024-01-01T00:00:00Z"}
    stub.add_response("describe_execution", {**base, "executionArn": arn_bad, "status": "RUNNING"})
    stub.add_response("describe_execution", {**base, "executionArn": arn_ok, "status": "SUCCEEDED"})
    stub.add_response(
        "describe_execution", {**base, "executionArn": arn_bad, "status": "FAILED", "error": "InvalidHeader"}
    )
    # When the range is reprocessed with wait
    with stub:
        summary = operations.reprocess_via_state_machine(
            state_machine_arn=STATE_MACHINE_ARN,
            bucket=bucket,
            date_from=date(2013, 1, 2),
            date_to=date(2013, 1, 4),
            wait=True,
            poll_seconds=0,
            s3_client=boto3.client("s3"),
            sfn_client=sfn,
        )
        stub.assert_no_pending_responses()
    # Then every file has its outcome and the whole run is FAILED
    assert [e.status for e in summary.executions] == ["SUCCEEDED", "FAILED", "START_FAILED"]
    assert summary.executions[1].error == "InvalidHeader"
    assert "ExecutionLimitExceeded" in (summary.executions[2].error or "")
    assert (summary.status, summary.executions_started, summary.executions_failed) == ("FAILED", 2, 2)


def test_via_state_machine_from_the_command_line(bucket: str, capsys: pytest.CaptureFixture[str]) -> None:
    # Given a state machine (moto records executions, it does not run them)
    sfn = boto3.client("stepfunctions")
    arn = sfn.create_state_machine(
        name="pipeline",
        definition=json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}}),
        roleArn="arn:aws:iam::123456789012:role/sfn",
    )["stateMachineArn"]
    # When one day is reprocessed through it
    code = cli.main(
        ["reprocess", "--from", "2013-01-04", "--to", "2013-01-04", "--bucket", bucket, "--via-state-machine", arn]
    )
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    # Then one execution was started with that object's event, and the summary names it
    assert code == 0
    assert summary["status"] == "STARTED"
    (execution,) = summary["executions"]
    event = json.loads(sfn.describe_execution(executionArn=execution["execution_arn"])["input"])
    assert event["detail"]["bucket"]["name"] == bucket
    assert event["detail"]["object"]["key"] == encode_key("daily-flights/date=2013-01-04/flights_20130104.csv")


# --- history -----------------------------------------------------------------------------------------


def test_history_shows_every_attempt_newest_first_including_failures(tmp_path: Path, source_dir: Path) -> None:
    # Given a wrong-header attempt, then two good loads, then the first good file again
    path = tmp_path / "history.duckdb"
    warehouse = f"duckdb://{path}"
    bad = tmp_path / "in" / "date=2013-01-01" / "flights.csv"
    bad.parent.mkdir(parents=True)
    bad.write_text("Carrier,Origin,Dest,DepDelay,ArrDelay,Extra\n" + "AA,1,2,3,4,5\n" + "x" * 300 + "\n")
    assert run_cli("load-airports", str(source_dir / "airports.csv"), "--warehouse", warehouse)[0] == 0
    assert run_cli("ingest", str(bad), "--warehouse", warehouse)[0] == 1
    goods = [next((source_dir / folder(day)).glob("*.csv")) for day in DAYS[:2]]
    for csv in [*goods, goods[0]]:
        time.sleep(1.05)  # started_at has second precision: make the order observable
        assert run_cli("ingest", str(csv), "--warehouse", warehouse)[0] == 0
    # When the history is read as JSON
    code, rows, _ = run_cli("history", "--warehouse", warehouse, "--json")
    # Then every attempt is there, newest first, with its outcome
    assert code == 0
    assert [r["status"] for r in rows] == ["LOADED", "LOADED", "LOADED", "FAILED"]
    assert [Path(r["source_file"]).name for r in rows] == [goods[0].name, goods[1].name, goods[0].name, "flights.csv"]
    assert rows[-1]["error"].startswith("InvalidHeader")
    assert rows[-1]["rows_loaded"] == 0
    assert rows[0]["rows_loaded"] == sum(1 for _ in datagen.flight_rows(DAYS[0]))
    assert all(r["duration_seconds"] is not None and r["duration_seconds"] >= 0 for r in rows)
    audit = fact(path, "SELECT count(*) AS n FROM airlines.load_audit")["n"][0]
    assert len(rows) == audit == 4
    # And --last limits it
    assert len(run_cli("history", "--warehouse", warehouse, "--json", "--last", "2")[1]) == 2
    # And the table form has one line per attempt, long values cut, and a JSON summary last
    done = subprocess.run([CLI, "history", "--warehouse", warehouse], capture_output=True, text=True, check=True)
    lines = done.stdout.strip().splitlines()
    assert lines[0].split()[:3] == ["started_at", "(UTC)", "status"]
    assert len(lines) == 1 + 4 + 1
    failed_line = next(line for line in lines if "FAILED" in line)
    assert "InvalidHeader" in failed_line
    assert "…" in failed_line
    assert len(failed_line) < 220
    assert json.loads(lines[-1]) == {"warehouse": warehouse, "attempts": 4, "loaded": 3, "failed": 1, "started": 0}


# --- report ------------------------------------------------------------------------------------------


def expected_frame(source_dir: Path, days: list[date]) -> pd.DataFrame:
    """The flights of ``days`` joined with airport names, straight from the CSV files (pandas only)."""
    flights = pd.concat([pd.read_csv(csv) for day in days for csv in sorted((source_dir / folder(day)).glob("*.csv"))])
    airports = pd.read_csv(source_dir / "airports.csv").set_index("airport_id")["name"]
    flights["dep_airport"] = flights["OriginAirportID"].map(airports)
    flights["arr_airport"] = flights["DestAirportID"].map(airports)
    return flights.rename(columns={"Carrier": "carrier", "DepDelay": "dep", "ArrDelay": "arr"})


def expected_groups(flights: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    grouped = flights.groupby(by)
    return pd.DataFrame(
        {
            "flights": grouped.size(),
            "arrived": grouped["arr"].count(),
            "cancelled": grouped.apply(lambda g: (g["arr"].isna() & g["dep"].isna()).sum(), include_groups=False),
            "diverted": grouped.apply(lambda g: (g["arr"].isna() & g["dep"].notna()).sum(), include_groups=False),
            "on_time": grouped["arr"].apply(lambda s: (s <= 15).sum()),
            "avg_dep_delay": grouped["dep"].mean(),
            "p90_dep_delay": grouped["dep"].quantile(0.9),
            "avg_arr_delay": grouped["arr"].mean(),
            "p90_arr_delay": grouped["arr"].quantile(0.9),
        }
    ).assign(on_time_share=lambda f: f["on_time"] / f["arrived"])


def reported(table: pd.DataFrame, section: str) -> pd.DataFrame:
    rows = table[table["section"] == section]
    wide = rows.pivot(index="group", columns="metric", values="value")
    return wide.apply(pd.to_numeric)


def test_report_numbers_match_an_independent_computation(
    loaded_warehouse: Path, source_dir: Path, tmp_path: Path
) -> None:
    # Given five loaded days; When the report covers days 2..4 with routes of >= 5 arrived flights
    out = tmp_path / "report"
    code, result, stderr = run_cli(
        "report", "--warehouse", f"duckdb://{loaded_warehouse}", "--out", str(out),
        "--from", "2013-01-02", "--to", "2013-01-04", "--min-route-flights", "5",
    )  # fmt: skip
    assert code == 0, stderr
    flights = expected_frame(source_dir, DAYS[1:4])
    # Then the JSON line names the files and the counts
    assert result["html"] == str(out / "report.html")
    assert result["csv"] == str(out / "report.csv")
    assert (result["flights"], result["days"], result["carriers"]) == (len(flights), 3, flights["carrier"].nunique())
    assert (result["date_from"], result["date_to"], result["charts"]) == ("2013-01-02", "2013-01-04", 5)
    table = pd.read_csv(out / "report.csv", keep_default_na=False, na_values=[""])
    assert list(table.columns) == ["date_from", "date_to", "section", "group", "metric", "value"]
    assert set(table["section"]) == {"overview", "carrier", "dep_airport", "route", "daily"}
    assert len(table) == result["csv_rows"]
    # And carrier and departure-airport numbers equal pandas' over the source files
    for section, by in (("carrier", "carrier"), ("dep_airport", "dep_airport")):
        want = expected_groups(flights, [by]).sort_index()
        got = reported(table, section).sort_index()[want.columns]
        assert list(got.index) == list(want.index)
        pd.testing.assert_frame_equal(got, want.astype(float), check_exact=False, atol=1e-4, check_names=False)
    # And the overview adds up
    overview = reported(table, "overview").iloc[0]
    assert overview["flights"] == len(flights) == overview["arrived"] + overview["cancelled"] + overview["diverted"]
    assert overview["on_time_share"] == pytest.approx((flights["arr"] <= 15).sum() / flights["arr"].count(), abs=1e-4)
    assert overview["p90_arr_delay"] == pytest.approx(flights["arr"].quantile(0.9), abs=1e-4)
    # And the worst routes are the top 15 by average arrival delay among routes with >= 5 arrived flights
    routes = expected_groups(flights, ["dep_airport", "arr_airport"])
    routes = routes[routes["arrived"] >= 5].reset_index()
    routes = routes.sort_values(
        ["avg_arr_delay", "arrived", "dep_airport", "arr_airport"], ascending=[False, False, True, True]
    ).head(15)
    got_routes = reported(table, "route").sort_values("rank")
    assert list(got_routes.index) == [f"{d} -> {a}" for d, a in zip(routes["dep_airport"], routes["arr_airport"])]
    assert got_routes["avg_arr_delay"].tolist() == pytest.approx(routes["avg_arr_delay"].tolist(), abs=1e-4)
    assert got_routes["p90_arr_delay"].tolist() == pytest.approx(routes["p90_arr_delay"].tolist(), abs=1e-4)


def test_report_html_is_self_contained_with_png_charts(loaded_warehouse: Path, tmp_path: Path) -> None:
    # When the report covers the whole warehouse
    out = tmp_path / "report"
    code, result, stderr = run_cli("report", "--warehouse", f"duckdb://{loaded_warehouse}", "--out", str(out))
    assert code == 0, stderr
    soup = BeautifulSoup((out / "report.html").read_text(encoding="utf-8"), "html.parser")
    # Then it names the range and the row count
    assert "2013-01-01" in soup.title.text
    assert "2013-01-05" in soup.title.text
    assert f"{result['flights']:,}" in soup.get_text()
    # And every chart is an embedded PNG that decodes
    images = soup.find_all("img")
    assert len(images) == result["charts"] == 5
    for image in images:
        prefix, _, payload = image["src"].partition(",")
        assert prefix == "data:image/png;base64"
        assert base64.b64decode(payload, validate=True).startswith(b"\x89PNG\r\n\x1a\n")
    # And nothing is fetched from elsewhere
    assert not soup.find_all(["link", "script", "iframe"])
    assert not [tag for tag in soup.find_all(src=True) if not tag["src"].startswith("data:")]
    # And the tables are there: carriers, airports, routes, days
    tables = soup.find_all("table")
    assert len(tables) == 4
    assert len(tables[0].find("tbody").find_all("tr")) == result["carriers"]


def test_report_on_an_empty_range_fails_without_writing(loaded_warehouse: Path, tmp_path: Path) -> None:
    out = tmp_path / "report"
    code, result, _ = run_cli(
        "report", "--warehouse", f"duckdb://{loaded_warehouse}", "--out", str(out), "--from", "2031-01-01",
    )  # fmt: skip
    assert code == 1
    assert result["error"] == "NoFlightsInRange"
    assert not out.exists()
