"""Every table RedFire keeps, and the state types stored in it."""
