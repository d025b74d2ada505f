//! Instance providers: instances as real processes, limited by cgroups where the host allows.
