"""Face templates: synthetic embeddings, cancelable protection, calibration, 1:N matching, evaluation."""
