"""Pure risk math and rules: numpy/scipy/torch only, nothing from faust or Kafka."""
