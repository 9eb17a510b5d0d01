"""The live strategy engine: closed candles and the strategy's own fills in, orders out
through execution (risk, kill switch, adapter). See docs/ENGINE.md."""
