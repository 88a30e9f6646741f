"""The built-in evidence plugin: intake, custody, review, sharing and court packages."""
