# The systemd unit and the bash completion.  configure chooses their
# directories (--with-systemdsystemunitdir, --with-bashcompletiondir; "no"
# leaves one out); the unit names the binary by the configured sbindir.
if HAVE_SYSTEMDSYSTEMUNITDIR
systemdsystemunit_DATA = data/dockerd-migrate.service
endif
if HAVE_BASHCOMPLETIONDIR
bashcompletion_DATA = data/bash-completion/dockerd-migrate
endif
data/dockerd-migrate.service: data/dockerd-migrate.service.in Makefile
	$(AM_V_GEN)$(MKDIR_P) data && \
		sed -e 's|@sbindir[@]|$(sbindir)|g' $(srcdir)/data/dockerd-migrate.service.in > $@.tmp && \
		mv $@.tmp $@
CLEANFILES += data/dockerd-migrate.service
EXTRA_DIST += data/dockerd-migrate.service.in data/bash-completion/dockerd-migrate
