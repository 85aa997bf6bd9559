"""What people do with observations: links between them, comments, the link graph, feeds."""
