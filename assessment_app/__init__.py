"""The built-in assessment: its content (project/, hidden_tests/, reference/, assessment.toml) and its grader."""
