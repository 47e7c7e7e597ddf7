from lstmcast.entry import main

main()
