"""The work queue in front of the batch function: its messages (plain data the CDK app imports
too), sending them, the search's refill and the scheduled sweep. Imports `index`, `catalog`,
`cache` and `runtime`."""
