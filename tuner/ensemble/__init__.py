"""How `tuner fit` weighs its members: every candidate forecasts the same backtest windows, fitted
on the rows before each (`backtest`), and greedy ensemble selection picks the weights on them
(`selection`), within the fixed shares the config asks for (`choice`)."""
