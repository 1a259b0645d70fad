"""The capacity job (load tests run on purpose): placeholder; it lands here."""
