"""``airline-pipeline freshness``: one entry per day of a range, read back from the audit table.

Expected row counts come from the fact table (what a user would query), never from the audit rows the
command reads; the loads go through the real ``ingest`` command.
"""

from __future__ import annotations

import json

from ingest_helpers import SAMPLE_FLIGHTS, Db, assert_clean_failure, place, run_cli

GOOD = SAMPLE_FLIGHTS.read_bytes()
WRONG_HEADER = b"Carrier,Origin,Dest,DepDelay,ArrDelay,Extra\nAA,1,2,3,4,5\n"


def fact_rows(db: Db, day: str) -> int:
    return int(db.scalar("SELECT count(*) FROM airlines.daily_flights_fact WHERE flight_date = CAST(? AS DATE)", [day]))


def test_each_day_is_loaded_failed_or_missing_and_the_exit_code_says_so(db: Db, tmp_path) -> None:
    # Given 2013-01-14 loaded (the baseline), a wrong-header file for 2013-01-15 and nothing for 2013-01-16
    bad = place(tmp_path, WRONG_HEADER, folder="date=2013-01-15")
    assert run_cli("ingest", str(bad), "--warehouse", db.uri).returncode == 1
    # When freshness is asked for the three days as JSON
    result = run_cli("freshness", "--warehouse", db.uri, "--from", "2013-01-14", "--to", "2013-01-16", "--json")
    # Then each day has its own entry, the exit is 1, and stderr names the days that need a look
    assert result.returncode == 1, result.stderr
    entries = json.loads(result.stdout.strip().splitlines()[-1])
    assert entries == [
        {"date": "2013-01-14", "status": "LOADED", "files": 1, "rows_loaded": fact_rows(db, "2013-01-14")},
        {"date": "2013-01-15", "status": "FAILED", "files": 1, "rows_loaded": 0},
        {"date": "2013-01-16", "status": "MISSING", "files": 0, "rows_loaded": 0},
    ]
    assert entries[0]["rows_loaded"] > 0
    assert "2 days not loaded: 2013-01-15 FAILED, 2013-01-16 MISSING" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_fixed_file_and_a_late_one_make_every_day_loaded(db: Db, tmp_path) -> None:
    # Given the wrong-header file for 2013-01-15 replaced by a good one under the same name, and 2013-01-16 arriving
    bad = place(tmp_path, WRONG_HEADER, folder="date=2013-01-15")
    assert run_cli("ingest", str(bad), "--warehouse", db.uri).returncode == 1
    fixed = place(tmp_path, GOOD, folder="date=2013-01-15")
    late = place(tmp_path, GOOD, folder="date=2013-01-16", name="late.csv")
    for path in (fixed, late):
        assert run_cli("ingest", str(path), "--warehouse", db.uri).returncode == 0
    # When freshness is asked as text
    result = run_cli("freshness", "--warehouse", db.uri, "--from", "2013-01-14", "--to", "2013-01-16")
    # Then the table has a line per day and the summary says every day is loaded, exit 0
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert lines[0].split() == ["date", "status", "files", "rows_loaded"]
    assert [line.split()[:3] for line in lines[1:4]] == [[f"2013-01-1{d}", "LOADED", "1"] for d in (4, 5, 6)]
    assert result.summary == {
        "warehouse": db.uri,
        "date_from": "2013-01-14",
        "date_to": "2013-01-16",
        "days": 3,
        "loaded": 3,
        "failed": 0,
        "missing": 0,
        "status": "FRESH",
    }


def test_a_failed_reload_shows_failed_and_still_counts_the_rows_kept(db: Db, tmp_path) -> None:
    # Given a second file for the baseline day, loaded, then reloaded with a wrong header (the earlier copy stays)
    before = fact_rows(db, "2013-01-14")
    second = place(tmp_path, GOOD, folder="date=2013-01-14", name="second.csv")
    assert run_cli("ingest", str(second), "--warehouse", db.uri).returncode == 0
    place(tmp_path, WRONG_HEADER, folder="date=2013-01-14", name="second.csv")
    assert run_cli("ingest", str(second), "--warehouse", db.uri).returncode == 1
    # When freshness reads the day
    result = run_cli("freshness", "--warehouse", db.uri, "--from", "2013-01-14", "--to", "2013-01-14", "--json")
    # Then the day is FAILED (the newest attempt of a file failed) and rows_loaded is what the fact table holds
    assert result.returncode == 1
    [entry] = json.loads(result.stdout.strip().splitlines()[-1])
    assert entry == {"date": "2013-01-14", "status": "FAILED", "files": 2, "rows_loaded": fact_rows(db, "2013-01-14")}
    assert entry["rows_loaded"] == 2 * before


def test_the_audit_read_is_redshift_sql_with_both_dates_bound() -> None:
    import sqlglot
    from sqlglot import exp

    from airline_pipeline.core.freshness import ATTEMPTS_SQL

    parsed = sqlglot.parse_one(ATTEMPTS_SQL, read="redshift")
    assert isinstance(parsed, exp.Select)
    assert {p.name for p in parsed.find_all(exp.Placeholder)} == {"date_from", "date_to"}


def test_bad_ranges_are_refused_with_the_json_line(db: Db) -> None:
    # An inverted range and a huge one: exit 1, a message naming the dates
    inverted = run_cli("freshness", "--warehouse", db.uri, "--from", "2013-01-16", "--to", "2013-01-14")
    assert_clean_failure(inverted, "ConfigError", "2013-01-16", "after")
    huge = run_cli("freshness", "--warehouse", db.uri, "--from", "0001-01-01", "--to", "9999-12-31")
    assert_clean_failure(huge, "ConfigError", "at most 3,660")
    # Not a date, and a missing --to: refused by the parser, exit 2
    for args in (["--from", "2013-13-01", "--to", "2013-01-14"], ["--from", "2013-01-14"]):
        refused = run_cli("freshness", "--warehouse", db.uri, *args)
        assert refused.returncode == 2
        assert_clean_failure(refused, "UsageError")


def test_the_scheduled_check_reports_a_missing_day_once_and_its_recovery_once(db: Db, tmp_path, monkeypatch) -> None:
    """The ExpectedBy check on a warehouse the CLI loads; DynamoDB and SNS (with a capturing queue) are moto."""
    from moto import mock_aws

    from airline_pipeline.adapters import aws
    from airline_pipeline.adapters.warehouse import open_reader
    from airline_pipeline.steps.freshness import AlertLog, check
    from airline_pipeline.steps.settings import FreshnessSettings

    for name, value in {
        "AWS_ACCESS_KEY_ID": "x",
        "AWS_SECRET_ACCESS_KEY": "x",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        dynamodb, sns, sqs = (aws.client(service) for service in ("dynamodb", "sns", "sqs"))
        dynamodb.create_table(
            TableName="ledger",
            AttributeDefinitions=[{"AttributeName": "file_id", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "file_id", "KeyType": "HASH"}],
            BillingMode="PAY_PER_REQUEST",
        )
        topic = sns.create_topic(Name="notifications")["TopicArn"]
        queue = sqs.create_queue(QueueName="capture")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn, Attributes={"RawMessageDelivery": "false"})
        settings = FreshnessSettings(
            warehouse_uri=db.uri,
            topic_arn=topic,
            ledger_table="ledger",
            data_prefix="daily-flights/",
            expected_by="cron(0 6 * * ? *)",
            freshness_lookback_days=2,
            expected_lag_days=1,
        )

        def run_check(moment: str) -> None:
            from datetime import datetime

            with open_reader(db.uri) as reader:
                check(
                    reader,
                    AlertLog("ledger", dynamodb=dynamodb),
                    sns=sns,
                    settings=settings,
                    now=datetime.fromisoformat(moment),
                )

        def subjects() -> list[str]:
            found = []
            while messages := sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", []):
                for message in messages:
                    found.append(json.loads(message["Body"])["Subject"])
                    sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])
            return found

        # Given 2013-01-14 loaded (the baseline) and no file for 2013-01-15
        # When the check runs three times on the morning of the 16th
        for hour in ("06", "07", "08"):
            run_check(f"2013-01-16T{hour}:00:00")
        # Then 2013-01-15 was reported MISSING once
        assert subjects() == ["[airline-pipeline] MISSING 2013-01-15: no file loaded by 2013-01-16 06:00 UTC"]

        # When the day's file is ingested and the check runs twice more
        late = place(tmp_path, GOOD, folder="date=2013-01-15", name="late.csv")
        assert run_cli("ingest", str(late), "--warehouse", db.uri).returncode == 0
        run_check("2013-01-16T09:00:00")
        run_check("2013-01-16T10:00:00")
        # Then ONE RECOVERED names the rows the fact table holds for the day
        assert subjects() == [f"[airline-pipeline] RECOVERED 2013-01-15: {fact_rows(db, '2013-01-15')} rows loaded"]
