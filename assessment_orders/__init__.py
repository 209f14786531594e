"""The second built-in assessment, a shop's order API: project/, hidden_tests/, reference/, decoys/ and its manifest."""
