"""Trained category models (issue 11): the model folder, its configurations, and the networks rebuilt from
it. Layer 4 (machinery), beside ``texforge.training``: the category pipeline trains these models, and other
pipelines use them (generating objects, reconstructing a single photo, starting a multi-view fit) without
importing one another."""
