"""School-year rollovers of a tenant (Interop API #36–#41, DESIGN §3.9)."""
