from corpactions.cli import main

main()
