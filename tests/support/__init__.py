"""Helpers the tests share that are not fixtures: builders of states, records and worlds."""
