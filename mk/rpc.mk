# The monacoind client's unit test (tests/unit/test_rpc.c) spawns the real test node
# ($(BUILD)/oncesign-testnode, built by mk/testnode.mk): build it first.
$(BUILD)/unit/test_rpc: $(BUILD)/oncesign-testnode
