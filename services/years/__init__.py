"""One year to the next: next year's plan from this year's, two years side by side."""
