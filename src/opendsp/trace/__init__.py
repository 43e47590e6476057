"""The trace: an append-only, hash-chained journal of every act."""
