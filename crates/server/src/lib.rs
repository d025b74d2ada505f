//! The updraft daemon: state store, controllers, clock, API; wires config, scaling, compute and proxy together.
