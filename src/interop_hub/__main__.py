from interop_hub.cli.main import main

main()
