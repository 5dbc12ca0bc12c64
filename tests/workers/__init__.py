"""Code that the Redis tests run in other processes: agents for workers, a coordinator script."""
