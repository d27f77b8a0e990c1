from hfgate.cli import main

main()
