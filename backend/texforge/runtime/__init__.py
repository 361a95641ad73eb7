"""What every long job shares: the errors users see, progress and cancellation callbacks."""
