"""Any model file on a batch (the one harness), and the test-set and photo reports built on it."""
