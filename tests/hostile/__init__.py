"""Hostile input: over HTTP on the local stack (test_http_*, test_aftermath, run after the last of them) and bounded in-process fuzz (test_fuzz_*)."""
