# The manual page.
dist_man_MANS += man/dockerd-migrate.8
