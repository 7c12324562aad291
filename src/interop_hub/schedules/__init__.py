"""Collection schedules of a cloud (Interop API #42–#48) and the worker step that runs them."""
