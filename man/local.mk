# The manual page.
