//! The data plane: listeners, target groups, health checks, balancing, served from an atomically swapped snapshot.
