"""cocotb testbenches: generated Verilog == golden model, bit for bit."""
