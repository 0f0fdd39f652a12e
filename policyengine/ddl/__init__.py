"""Native warehouse policies generated from the decision: Snowflake masking, projection and row access."""
