//! Everything that touches hosts: SSH, the NGINX upstream editor, compose stacks, health checks.
