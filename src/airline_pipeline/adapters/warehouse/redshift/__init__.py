"""Amazon Redshift through the Data API: the URI, the SQL, the API calls, the load sink, the reader, the bootstrap."""
