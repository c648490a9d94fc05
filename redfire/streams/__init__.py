"""Every topic RedFire reads or writes, declared once."""
