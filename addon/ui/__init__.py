"""What the user sees: the sidebar panels, the add-on preferences and the scene's properties."""
