//! Pure Auto Scaling decisions: capacity, launches, replacements, terminations, AZ balance. No I/O, no clock.
