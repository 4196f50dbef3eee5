"""The methods, as plain functions on numpy / polars / pyarrow data: no Dagster in here."""
