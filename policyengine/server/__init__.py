"""The PostgreSQL wire-protocol front door (issue 5): principals log in, every statement is rewritten."""
