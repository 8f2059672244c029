from kvmplan.cli import main

main()
