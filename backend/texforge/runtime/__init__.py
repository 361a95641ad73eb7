"""What every long job shares: the errors users see, progress callbacks and their throttle,
cancellation (including Ctrl-C on the command line), the determinism scope and phase timings.

Modules: errors (InputError, Cancelled), progress (ProgressFn, ShouldStopFn, check_stop,
ProgressThrottle), interrupt (SigintStop), determinism (deterministic), timing (timed).
"""
