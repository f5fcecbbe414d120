"""Changes to the org tree and its people: heads over time, moves, people who leave."""
