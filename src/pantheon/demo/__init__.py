"""``pantheon demo``: the bundled real outcomes through every training job, with a report."""
