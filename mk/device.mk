# The simulator with the test-only random source (issue 10): build/oncesign-sim-test, the same
# board and main compiled with -DONCESIGN_TEST_RNG, for tests that need reproducible keys (--seed).
# build/oncesign-sim, the production simulator, is built without it and refuses --seed;
# tests/e2e/test_sim_rng.sh checks both images with nm.

SIM_TEST_BIN := $(BUILD)/oncesign-sim-test
SIM_TEST_OBJ := $(BUILD)/host/obj-test-rng

$(SIM_TEST_OBJ)/%.o: %.c | $(DEPS_STAMP)
	@mkdir -p $(@D)
	$(HOST_CC) $(HOST_CPPFLAGS) -DONCESIGN_TEST_RNG $(HOST_CFLAGS) $(DEPFLAGS) -c $< -o $@

$(SIM_TEST_BIN): $(patsubst %.c,$(SIM_TEST_OBJ)/%.o,$(SIM_MAIN) $(SIM_SRCS)) $(HOST_LIBCORE)
	$(HOST_CC) $(HOST_CFLAGS) -o $@ $(filter %.o,$^) $(call link_group,$(filter %.a,$^)) $(SIM_LDLIBS)

all: $(SIM_TEST_BIN)

-include $(patsubst %.c,$(SIM_TEST_OBJ)/%.d,$(SIM_MAIN) $(SIM_SRCS))
