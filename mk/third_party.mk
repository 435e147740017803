# Debian's source packages of libsecp256k1 and mbedtls, fetched with `apt-get source` into
# $(THIRD_PARTY) (never committed) through a private deb-src list derived from the system's apt
# sources. `make third-party` fetches them; anything compiled from them depends on the stamp.
.PHONY: third-party
third-party: $(THIRD_PARTY_STAMP)

$(THIRD_PARTY_STAMP): mk/fetch-third-party.sh mk/deb-src-list.sh | $(DEPS_STAMP)
	@bash mk/fetch-third-party.sh $(THIRD_PARTY)
	@touch $@

# The unpacked files exist once the stamp does; this tells make where they come from.
THIRD_PARTY_SRC_FILES := $(addprefix $(SECP256K1_SRC)/,$(SECP256K1_ARM_SRCS)) \
  $(addprefix $(MBEDTLS_SRC)/,$(MBEDTLS_ARM_SRCS))
$(THIRD_PARTY_SRC_FILES): | $(THIRD_PARTY_STAMP)
	@test -f $@ || { echo "third_party: $@ missing from the unpacked source package" >&2; exit 1; }
