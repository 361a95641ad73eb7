"""What every long job shares: the errors users see, progress callbacks and their throttle,
cancellation (including Ctrl-C on the command line) and the determinism scope.

Modules: errors (InputError, Cancelled), progress (ProgressFn, ShouldStopFn, check_stop,
ProgressThrottle), interrupt (sigint_stops), determinism (deterministic).
"""
