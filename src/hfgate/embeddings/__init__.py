"""Embeddings and reranking: OpenAI's ``/v1/embeddings`` and the Cohere/Jina ``/v1/rerank``
over text-embeddings-inference endpoints, through the call lifecycle chat uses."""
