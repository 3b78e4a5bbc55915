"""Hostile input: over HTTP on the local stack (test_http_*, test_zz_aftermath) and bounded in-process fuzz (test_fuzz_*)."""
