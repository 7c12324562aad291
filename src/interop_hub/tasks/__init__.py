"""The task queue (Interop Data API #52–#59) and the event pipeline that fills it."""
