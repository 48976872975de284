"""Running taskq on one machine: the embedded redis-server (``embedded``),
a throwaway Redis Cluster for tests and benchmarks (``cluster``), what
``taskq start`` does around the Procfile's processes (``start``), and child
processes that end with their parent (``parent_death``). Nothing in the
engine depends on this package; the CLI and the test tools do."""
